#!/usr/bin/env python3
"""Reference pre-tokenizer splits for tokenizer/pretok_golden_test.go.

Runs the expressions llama.cpp lists per pre-tokenizer type (llm_tokenizer_bpe
in src/llama-vocab.cpp) the way its unicode_regex_split does, with the
third-party `regex` module instead of std::regex:

  * each expression splits every word the previous one made; the text between
    two matches is a word too;
  * an expression that uses \\p{..} runs on the "collapsed" text: ASCII kept,
    every other character replaced by one stand-in per class (whitespace ->
    \\v, else one per category L N P M S or other), and \\p{X} replaced by that
    stand-in plus llama.cpp's list of ASCII members (its \\p{S} lacks '~');
  * an expression without \\p{..} sees code points, non-ASCII whitespace as \\v;
  * \\s is ASCII whitespace (std::regex's, C locale), $ the end of the word.

The GPT-2 and LLaMA 3 expressions, which llama.cpp runs by hand-written code,
run here as expressions too, which checks that code as well.

Usage: pretok_ref.py INP_FILE > pretok_golden.json
(INP_FILE: a llama.cpp models/ggml-vocab-*.gguf.inp; its texts are taken, and
the extra texts below.) Not part of the Go build; needs python3 and `regex`.
"""

import json
import sys
import unicodedata

import regex

GPT2 = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)"
LLAMA3 = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
QWEN2 = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
BLOOM = " ?[^(\\s|.,!?…。，、।۔،)]+"

EXPRS = {
    "default": [r"[\p{P}\$\+<=>\^~\|]+", GPT2, r"\p{N}+", r"[0-9][0-9][0-9]"],
    "llama-bpe": [LLAMA3],
    "dbrx": [LLAMA3],
    "smaug-bpe": [LLAMA3],
    "chatglm-bpe": [LLAMA3],
    "deepseek-llm": [
        "[\r\n]",
        "\\s?[A-Za-zµ\u00C0-\u00D6Ø-\u00F6ø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿ\u0386\u0388-\u038A\u038C\u038E-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚ\u1E00-\u1F15\u1F18-\u1F1D\u1F20-\u1F45\u1F48-\u1F4D\u1F50-\u1F57\u1F59\u1F5B\u1F5D\u1F5F-\u1F7D\u1F80-\u1FB4\u1FB6-\u1FBC\u1FBE\u1FC2-\u1FC4\u1FC6-\u1FCC\u1FD0-\u1FD3\u1FD6-\u1FDB\u1FE0-\u1FEC\u1FF2-\u1FF4\u1FF6-\u1FFCℂℇℊ-ℓℕℙ-ℝℤ\u2126ℨ\u212A-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃]+",
        "\\s?[!-/:-~！-／：-～‘-‟　-。]+",
        "\\s+$",
        "[一-龥ࠀ-一가-퟿]+",
        "\\p{N}+",
    ],
    "deepseek-v3": [
        "\\p{N}{1,3}",
        "[一-龥぀-ゟ゠-ヿ]+",
        "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+",
    ],
    "deepseek-coder": ["[\r\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", "[一-龥ࠀ-一가-퟿]+", "\\p{N}"],
    "falcon": [r"[\p{P}\$\+<=>\^~\|`]+", GPT2, "[0-9][0-9][0-9]"],
    "starcoder": [r"\p{N}", GPT2],
    "refact": [r"\p{N}", GPT2],
    "command-r": [r"\p{N}", GPT2],
    "smollm": [r"\p{N}", GPT2],
    "codeshell": [r"\p{N}", GPT2],
    "exaone": [r"\p{N}", GPT2],
    "minerva-7b": [r"\p{N}", GPT2],
    "gpt-2": [GPT2],
    "roberta-bpe": [GPT2],
    "mpt": [GPT2],
    "olmo": [GPT2],
    "jais": [GPT2],
    "stablelm2": [QWEN2],
    "qwen2": [QWEN2],
    "deepseek-r1-qwen": [QWEN2],
    "poro-chat": [BLOOM],
    "bloom": [BLOOM],
    "gpt3-finnish": [BLOOM],
    "viking": [BLOOM, r"\p{N}"],
    "tekken": [
        "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    ],
    "chameleon": [
        "<sentinel:[0-9]+>",
        "(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z",
        "([\\t\\n]|    |  )",
        "\\p{N}",
        "[\\p{P}!-/:-@\\[-`{-~]",
        GPT2,
    ],
}

# Collapsed stand-ins and the ASCII members llama.cpp lists per category.
STAND_IN = {"N": "\xd1", "L": "\xd2", "P": "\xd3", "M": "\xd4", "S": "\xd5"}
ASCII_OF = {
    "N": "0-9",
    "L": "A-Za-z",
    "P": "!-#%-*,-/:-;?-@\\[-\\]_\\{\\}",
    "M": "",
    "S": "\\$\\+<->\\^`\\|",
}
WS = "\\t\\n\\x0b\\x0c\\r "
WHITESPACE = {0x85, 0xA0, 0x1680, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000} | set(range(0x2000, 0x200B))


def collapse(text):
    out = []
    for ch in text:
        cp = ord(ch)
        if cp < 128:
            out.append(ch)
        elif cp in WHITESPACE:
            out.append("\x0b")
        else:
            out.append(STAND_IN.get(unicodedata.category(ch)[0], "\xd0"))
    return "".join(out)


def wide(text):
    return "".join("\x0b" if ord(ch) in WHITESPACE else ch for ch in text)


def translate(expr, collapsed):
    out, inside, i = [], False, 0
    while i < len(expr):
        c = expr[i]
        if c == "[" and (i == 0 or expr[i - 1] != "\\"):
            inside = True
        elif c == "]" and inside and expr[i - 1] != "\\":
            inside = False
        if c == "\\" and collapsed and expr[i + 1 : i + 3] == "p{" and expr[i + 4 : i + 5] == "}":
            cat = expr[i + 3]
            body = STAND_IN[cat] + ASCII_OF[cat]
            out.append(body if inside else "[" + body + "]")
            i += 5
            continue
        if c == "\\" and expr[i + 1 : i + 2] in ("s", "S"):
            neg = expr[i + 1] == "S"
            out.append(WS if inside else ("[^" if neg else "[") + WS + "]")
            i += 2
            continue
        if c == "\\":
            out.append(expr[i : i + 2])
            i += 2
            continue
        if c == "$" and not inside:
            out.append("\\Z")
        else:
            out.append(c)
        i += 1
    return "".join(out)


def split(text, exprs):
    ends = [len(text)]
    for expr in exprs:
        collapsed = "\\p{" in expr
        view = collapse(text) if collapsed else wide(text)
        pat = regex.compile(translate(expr, collapsed))
        nxt, lo = [], 0
        for hi in ends:
            prev = lo
            for m in pat.finditer(view, lo, hi):
                if m.end() == m.start():
                    continue
                if m.start() > prev:
                    nxt.append(m.start())
                nxt.append(m.end())
                prev = m.end()
            if prev < hi:
                nxt.append(hi)
            lo = hi
        ends = nxt
    words, lo = [], 0
    for hi in ends:
        words.append(text[lo:hi])
        lo = hi
    return words


EXTRA = [
    "HTMLParser iPhone McDonald's ÀBc ÉCOLE naïve ǅungla ΣΑΣ",
    "日本語のテキスト、カタカナ。ひらがな 한국어 텍스트 中文字符　全角　空格",
    "１２３ ＡＢＣ！ （全角） ‘quotes’ “more” …",
    "a~b ~~ x^2 $5 +3 <tag> a|b `code` 100% #1 @me",
    "12345678901 ٣٤٥ ²³ ⅷ 1.5e-10",
    "line1\r\nline2\n\n\tindented  \t \n  trailing   ",
    "<sentinel:12> <sentinel:x> IMGIMGABZ IMGIMGABCDEZ IMGIMGZ",
    "    four  two   three\t\ttabs",
    "x\u00a0y\u2003z\u3000w \u0085v",
    "e\u0301 a\u0308b \u0301\u0301 \u0645\u064e\u0631\u062d\u064e\u0628\u064b\u0627",
    "emoji 🦙🦙 👍🏽 ✨ ♥ ∑ ⊕",
    "'S 'T 'RE 'Ve 'lL 'd don't I'M",
    "hello/world\r\n/path//x:/y",
    "~Tilde ~~~ ~a ~1",
    "\u1f7d\u1fbe \u1fd3\u1fdb \u2126\u212a \u03a9K \u1e00\u1f15x",
]


def main():
    raw = open(sys.argv[1], encoding="utf-8").read()
    texts = raw.split("\n__ggml_vocab_test__\n")
    if texts and texts[-1] == "":
        texts.pop()
    texts += EXTRA
    cases = []
    for name in sorted(EXPRS):
        cases.append({"pre": name, "splits": [split(t, EXPRS[name]) for t in texts]})
    json.dump({"texts": texts, "cases": cases}, sys.stdout, ensure_ascii=False, indent=0)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()

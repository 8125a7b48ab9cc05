#!/usr/bin/env python3
"""Differential check of `shrink tokenize` against llama.cpp's llama-tokenize.

Usage: diff_llama_tokenize.py LLAMA_TOKENIZE SHRINK SEED TEXTS VOCAB.gguf...

For TEXTS random texts of about 1500 characters (letters of several scripts,
digits, punctuation, symbols, Unicode whitespace, marks, contractions,
special-token spellings), drawn with SEED, runs both tools on every
vocabulary (`--no-bos`, special tokens not parsed) and prints the first
difference of each text that differs. To try every pre-tokenizer, copy a
byte-level vocabulary with other tokenizer.ggml.pre values. Not part of the
Go build; needs python3 and a llama.cpp build.
"""

import random
import subprocess
import sys

POOLS = [
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", "0123456789", " ", "  \t\n\r\n",
    "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", "àéîõüßÀÉÎÕÜÆØÅçñ", "αβγδΩΣπ", "абвгдЖЗИ", "日本語中文字符",
    "ひらがなカタカナ", "한국어", "١٢٣٤٥٦٧٨٩", "²³¼½⅓Ⅷ", "\u00a0\u2003\u3000\u0085\u2028",
    "…。，、！？：；（）「」", "‘’“”–—•", "😀🦙👍🏽✨♥∑⊕€£¥", "\u0301\u0308\u064e", "'s 're 'll 'd 'M 'T",
    "ǅǈᾈᾼ", "ſK", "<s></s><|endoftext|><unk>", "ＡＢＣａｂｃ１２３",
]


def random_text(n):
    out = []
    while sum(map(len, out)) < n:
        p = random.choice(POOLS)
        out.append("".join(random.choice(p) if random.random() < 0.7 else p for _ in range(random.randint(1, 4))))
    return "".join(out)


def ids_llama(tool, vocab, path):
    out = subprocess.run([tool, "-m", vocab, "-f", path, "--ids", "--no-bos", "--no-parse-special",
                          "--no-escape", "--log-disable"], capture_output=True, text=True, check=True).stdout
    return [int(x) for x in out.strip().splitlines()[-1].strip("[]").split(",") if x.strip()]


def ids_shrink(tool, vocab, path):
    out = subprocess.run([tool, "tokenize", vocab, "--file", path, "--no-bos"], capture_output=True, text=True,
                         check=True).stdout
    return [int(x) for x in out.split()]


def main():
    llama, shrink, seed, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    vocabs = sys.argv[5:]
    random.seed(seed)
    bad = 0
    for k in range(n):
        path = "diff_text.txt"
        with open(path, "w", encoding="utf-8") as f:
            f.write(random_text(1500))
        for v in vocabs:
            a, b = ids_llama(llama, v, path), ids_shrink(shrink, v, path)
            if a != b:
                bad += 1
                i = next((i for i in range(min(len(a), len(b))) if a[i] != b[i]), min(len(a), len(b)))
                print(f"{v} text {k}: first difference at {i}: llama {a[max(0, i - 3):i + 5]} shrink {b[max(0, i - 3):i + 5]}")
    print(f"{bad} of {n * len(vocabs)} differ")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()

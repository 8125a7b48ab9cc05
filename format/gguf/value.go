package gguf

import (
	"fmt"
	"math"
)

// ValueType is the type tag of a metadata value (enum gguf_type).
type ValueType uint32

// The metadata value types of GGUF version 3.
const (
	TypeUint8   ValueType = 0
	TypeInt8    ValueType = 1
	TypeUint16  ValueType = 2
	TypeInt16   ValueType = 3
	TypeUint32  ValueType = 4
	TypeInt32   ValueType = 5
	TypeFloat32 ValueType = 6
	TypeBool    ValueType = 7
	TypeString  ValueType = 8
	TypeArray   ValueType = 9
	TypeUint64  ValueType = 10
	TypeInt64   ValueType = 11
	TypeFloat64 ValueType = 12
)

var typeNames = [...]string{"uint8", "int8", "uint16", "int16", "uint32", "int32", "float32", "bool", "string", "array", "uint64", "int64", "float64"}
var typeSizes = [...]int{1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8}

// String returns the name of the type ("uint32", "string", ...).
func (t ValueType) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return fmt.Sprintf("gguf_type(%d)", uint32(t))
}

// Value is one metadata value. Data holds the Go value of the matching type:
// uint8, int8, uint16, int16, uint32, int32, float32, bool, string, uint64,
// int64 or float64 for scalars; for an array (Type == TypeArray, element type
// in Elem) a slice of those ([]uint8 ... []float64, []string, []bool).
// Arrays of arrays are not valid in GGUF (llama.cpp rejects them).
type Value struct {
	Type ValueType
	Elem ValueType // element type, for arrays
	Data any
}

// KV is one metadata key with its value.
type KV struct {
	Key   string
	Value Value
}

// Constructors for metadata values.

// Uint8 returns a UINT8 value.
func Uint8(v uint8) Value { return Value{Type: TypeUint8, Data: v} }

// Int8 returns an INT8 value.
func Int8(v int8) Value { return Value{Type: TypeInt8, Data: v} }

// Uint16 returns a UINT16 value.
func Uint16(v uint16) Value { return Value{Type: TypeUint16, Data: v} }

// Int16 returns an INT16 value.
func Int16(v int16) Value { return Value{Type: TypeInt16, Data: v} }

// Uint32 returns a UINT32 value.
func Uint32(v uint32) Value { return Value{Type: TypeUint32, Data: v} }

// Int32 returns an INT32 value.
func Int32(v int32) Value { return Value{Type: TypeInt32, Data: v} }

// Float32 returns a FLOAT32 value.
func Float32(v float32) Value { return Value{Type: TypeFloat32, Data: v} }

// Bool returns a BOOL value.
func Bool(v bool) Value { return Value{Type: TypeBool, Data: v} }

// String returns a STRING value.
func String(v string) Value { return Value{Type: TypeString, Data: v} }

// Uint64 returns a UINT64 value.
func Uint64(v uint64) Value { return Value{Type: TypeUint64, Data: v} }

// Int64 returns an INT64 value.
func Int64(v int64) Value { return Value{Type: TypeInt64, Data: v} }

// Float64 returns a FLOAT64 value.
func Float64(v float64) Value { return Value{Type: TypeFloat64, Data: v} }

// Strings returns an ARRAY of STRING.
func Strings(v []string) Value { return Value{Type: TypeArray, Elem: TypeString, Data: v} }

// Int32s returns an ARRAY of INT32.
func Int32s(v []int32) Value { return Value{Type: TypeArray, Elem: TypeInt32, Data: v} }

// Uint32s returns an ARRAY of UINT32.
func Uint32s(v []uint32) Value { return Value{Type: TypeArray, Elem: TypeUint32, Data: v} }

// Float32s returns an ARRAY of FLOAT32.
func Float32s(v []float32) Value { return Value{Type: TypeArray, Elem: TypeFloat32, Data: v} }

// Array returns an ARRAY value whose element type is taken from the slice
// type of v ([]uint8 ... []float64, []bool, []string).
func Array(v any) (Value, error) {
	var e ValueType
	switch v.(type) {
	case []uint8:
		e = TypeUint8
	case []int8:
		e = TypeInt8
	case []uint16:
		e = TypeUint16
	case []int16:
		e = TypeInt16
	case []uint32:
		e = TypeUint32
	case []int32:
		e = TypeInt32
	case []float32:
		e = TypeFloat32
	case []bool:
		e = TypeBool
	case []string:
		e = TypeString
	case []uint64:
		e = TypeUint64
	case []int64:
		e = TypeInt64
	case []float64:
		e = TypeFloat64
	default:
		return Value{}, fmt.Errorf("gguf: %T is not a GGUF array type", v)
	}
	return Value{Type: TypeArray, Elem: e, Data: v}, nil
}

// Len returns the number of elements of an array value, and 1 for a scalar.
func (v Value) Len() int {
	if v.Type != TypeArray {
		return 1
	}
	switch a := v.Data.(type) {
	case []uint8:
		return len(a)
	case []int8:
		return len(a)
	case []uint16:
		return len(a)
	case []int16:
		return len(a)
	case []uint32:
		return len(a)
	case []int32:
		return len(a)
	case []float32:
		return len(a)
	case []bool:
		return len(a)
	case []string:
		return len(a)
	case []uint64:
		return len(a)
	case []int64:
		return len(a)
	case []float64:
		return len(a)
	}
	return 0
}

// Int returns the value of an integer or bool scalar as int64.
func (v Value) Int() (int64, bool) {
	switch x := v.Data.(type) {
	case uint8:
		return int64(x), true
	case int8:
		return int64(x), true
	case uint16:
		return int64(x), true
	case int16:
		return int64(x), true
	case uint32:
		return int64(x), true
	case int32:
		return int64(x), true
	case uint64:
		if x > math.MaxInt64 {
			return 0, false
		}
		return int64(x), true
	case int64:
		return x, true
	case bool:
		if x {
			return 1, true
		}
		return 0, true
	}
	return 0, false
}

// Float returns the value of a numeric scalar as float64.
func (v Value) Float() (float64, bool) {
	switch x := v.Data.(type) {
	case float32:
		return float64(x), true
	case float64:
		return x, true
	}
	if i, ok := v.Int(); ok {
		return float64(i), true
	}
	return 0, false
}

// Ints returns an integer array (any integer element type) as []int64.
func (v Value) Ints() ([]int64, bool) {
	if v.Type != TypeArray {
		return nil, false
	}
	var out []int64
	switch a := v.Data.(type) {
	case []uint8:
		for _, x := range a {
			out = append(out, int64(x))
		}
	case []int8:
		for _, x := range a {
			out = append(out, int64(x))
		}
	case []uint16:
		for _, x := range a {
			out = append(out, int64(x))
		}
	case []int16:
		for _, x := range a {
			out = append(out, int64(x))
		}
	case []uint32:
		for _, x := range a {
			out = append(out, int64(x))
		}
	case []int32:
		for _, x := range a {
			out = append(out, int64(x))
		}
	case []uint64:
		for _, x := range a {
			out = append(out, int64(x))
		}
	case []int64:
		out = append(out, a...)
	default:
		return nil, false
	}
	return out, true
}

// Metadata is the ordered list of a file's key-value pairs with lookup by
// key. The zero value is empty and ready to use.
type Metadata struct {
	kvs   []KV
	index map[string]int
}

// Len returns the number of keys.
func (m *Metadata) Len() int { return len(m.kvs) }

// KVs returns the pairs in file order. The slice must not be modified.
func (m *Metadata) KVs() []KV { return m.kvs }

// Get returns the value of key.
func (m *Metadata) Get(key string) (Value, bool) {
	i, ok := m.index[key]
	if !ok {
		return Value{}, false
	}
	return m.kvs[i].Value, true
}

// Set adds key, or replaces its value in place when it exists.
func (m *Metadata) Set(key string, v Value) {
	if m.index == nil {
		m.index = make(map[string]int)
	}
	if i, ok := m.index[key]; ok {
		m.kvs[i].Value = v
		return
	}
	m.index[key] = len(m.kvs)
	m.kvs = append(m.kvs, KV{key, v})
}

// Delete removes key if present.
func (m *Metadata) Delete(key string) {
	i, ok := m.index[key]
	if !ok {
		return
	}
	m.kvs = append(m.kvs[:i], m.kvs[i+1:]...)
	delete(m.index, key)
	for j := i; j < len(m.kvs); j++ {
		m.index[m.kvs[j].Key] = j
	}
}

// String returns the value of a STRING key.
func (m *Metadata) String(key string) (string, bool) {
	v, ok := m.Get(key)
	if !ok || v.Type != TypeString {
		return "", false
	}
	return v.Data.(string), true
}

// Uint32 returns the value of a UINT32 key (the type llama.cpp requires for
// counts), also accepting other non-negative integer types that fit.
func (m *Metadata) Uint32(key string) (uint32, bool) {
	v, ok := m.Get(key)
	if !ok {
		return 0, false
	}
	i, ok := v.Int()
	if !ok || i < 0 || i > math.MaxUint32 {
		return 0, false
	}
	return uint32(i), true
}

// Float32 returns the value of a FLOAT32 (or FLOAT64) key.
func (m *Metadata) Float32(key string) (float32, bool) {
	v, ok := m.Get(key)
	if !ok {
		return 0, false
	}
	f, ok := v.Float()
	return float32(f), ok
}

// Bool returns the value of a BOOL key.
func (m *Metadata) Bool(key string) (bool, bool) {
	v, ok := m.Get(key)
	if !ok || v.Type != TypeBool {
		return false, false
	}
	return v.Data.(bool), true
}

// Strings returns the value of an ARRAY of STRING key.
func (m *Metadata) Strings(key string) ([]string, bool) {
	v, ok := m.Get(key)
	if !ok {
		return nil, false
	}
	s, ok := v.Data.([]string)
	return s, ok
}

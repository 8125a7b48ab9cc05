package main

import (
	"fmt"

	"github.com/spf13/pflag"
)

// The flag getters read a flag the command declared. pflag's getters
// return an error only when the name is not declared or has another type:
// a mistake in this program, never in the user's input. They panic with
// the flag's name so that the tests, which run every command, fail on it
// instead of the command silently reading a zero value; TestFlagNames
// checks every name statically as well.

func flagString(fs *pflag.FlagSet, name string) string { return flagValue(fs, name, fs.GetString) }

func flagBool(fs *pflag.FlagSet, name string) bool { return flagValue(fs, name, fs.GetBool) }

func flagInt(fs *pflag.FlagSet, name string) int { return flagValue(fs, name, fs.GetInt) }

func flagInt64(fs *pflag.FlagSet, name string) int64 { return flagValue(fs, name, fs.GetInt64) }

func flagUint64(fs *pflag.FlagSet, name string) uint64 { return flagValue(fs, name, fs.GetUint64) }

func flagFloat32(fs *pflag.FlagSet, name string) float32 { return flagValue(fs, name, fs.GetFloat32) }

func flagFloat64(fs *pflag.FlagSet, name string) float64 { return flagValue(fs, name, fs.GetFloat64) }

func flagStringSlice(fs *pflag.FlagSet, name string) []string {
	return flagValue(fs, name, fs.GetStringSlice)
}

func flagStringArray(fs *pflag.FlagSet, name string) []string {
	return flagValue(fs, name, fs.GetStringArray)
}

// flagValue returns get(name), or panics naming the flag and the command
// when the flag set has no flag of that name and type.
func flagValue[T any](fs *pflag.FlagSet, name string, get func(string) (T, error)) T {
	v, err := get(name)
	if err != nil {
		panic(fmt.Sprintf("shrink %s: flag --%s: %v", fs.Name(), name, err))
	}
	return v
}

package shrink

// UsageError is an error in the options (a bad value or a missing
// required one), as opposed to bad input files; the command reports it
// with a hint to --help.
type UsageError struct{ Msg string }

// Error returns the message.
func (e *UsageError) Error() string { return e.Msg }

func usageErr(msg string) error { return &UsageError{Msg: msg} }

//go:build !unix

package session

// lockFile cannot tell here whether another process shares the file, so
// reads are not cached.
func lockFile(string) (unlock func() error, ok bool) { return func() error { return nil }, false }

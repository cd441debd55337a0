//go:build unix

package session

import (
	"os"
	"syscall"
)

// lockFile takes an exclusive lock on path (created if needed) for as long
// as the process holds it, and reports whether it got it; unlock releases
// it. Another process holding it means the store is shared.
func lockFile(path string) (unlock func() error, ok bool) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return func() error { return nil }, false
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return func() error { return nil }, false
	}
	return f.Close, true
}

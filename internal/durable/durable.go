// Package durable writes files so that what a call reports written survives a crash: data is
// fsynced before the call returns, replacements are atomic (write, fsync, rename, fsync the
// directory), and appends never leave a reader with half a previous state.
package durable

import (
	"os"
	"path/filepath"
)

// WriteFile replaces path with b atomically.
func WriteFile(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := write(tmp, b, os.O_CREATE|os.O_WRONLY|os.O_TRUNC); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return SyncDir(filepath.Dir(path))
}

// Append adds b at the end of path (created if missing) and fsyncs it.
func Append(path string, b []byte) error {
	return write(path, b, os.O_CREATE|os.O_WRONLY|os.O_APPEND)
}

func write(path string, b []byte, flag int) error {
	f, err := os.OpenFile(path, flag, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// SyncDir makes a directory's entries (new, renamed, removed files) durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

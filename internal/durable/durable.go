// Package durable writes files so that what a call reports written survives a crash: data is
// fsynced before the call returns, replacements are atomic (write, fsync, rename, fsync the
// directory), and appends never leave a reader with half a previous state.
package durable

import (
	"bytes"
	"errors"
	"fmt"
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

// CorruptError is a record that cannot be read and is not the torn end of an append: the file was
// damaged, and reading past it would silently lose what follows.
type CorruptError struct {
	Path   string
	Line   int   // 1-based
	Offset int64 // of the line's first byte
	Err    error
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("%s: line %d (byte %d) is unreadable: %v", e.Path, e.Line, e.Offset, e.Err)
}

func (e *CorruptError) Unwrap() error { return e.Err }

// Torn describes a last record that a crash left unfinished.
type Torn struct {
	Path   string
	Offset int64 // where the torn record starts (the file's new size when it is cut)
	Bytes  int   // its length
}

// ReadLines is the one rule for reading a JSON-lines state file (notices, actions, audit
// segments): fn decodes each record in order. A record fn cannot decode is
//   - the torn end of an append after a crash when it is the last one: it was never acknowledged
//     to anyone, so it is reported as torn and, with repair, cut off the file;
//   - anywhere else, damage: ReadLines stops with a *CorruptError naming the file, the line and
//     the byte offset, and never reads past it.
//
// A missing file is an empty one.
func ReadLines(path string, repair bool, fn func(line []byte) error) (*Torn, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var offset int64
	for n := 1; len(b) > 0; n++ {
		line, rest, complete := bytes.Cut(b, []byte("\n"))
		if err := fn(line); err != nil {
			if len(bytes.TrimSpace(rest)) > 0 {
				return nil, &CorruptError{Path: path, Line: n, Offset: offset, Err: err}
			}
			torn := &Torn{Path: path, Offset: offset, Bytes: len(b)}
			if repair {
				if err := os.Truncate(path, offset); err != nil {
					return torn, fmt.Errorf("cut the torn last record of %s: %w", path, err)
				}
			}
			return torn, nil
		}
		offset += int64(len(line))
		if complete {
			offset++
		}
		b = rest
	}
	return nil, nil
}

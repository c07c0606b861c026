package main

import (
	"github.com/securechat/securechat/p2p/files"
)

// fileSizeFlag is --max-file-size: bytes, or with a KiB, MiB or GiB suffix
// (files.ParseSize).
type fileSizeFlag struct {
	n      *int64
	failed *error
}

func (f fileSizeFlag) String() string { return "" }

func (f fileSizeFlag) Set(s string) error {
	v, err := files.ParseSize(s)
	if err != nil {
		*f.failed = usageErrorf("", "--max-file-size: %v", err)
		return err
	}
	*f.n = v
	return nil
}

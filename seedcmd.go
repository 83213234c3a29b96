package main

import (
	"context"
	"io"
)

func seedCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return nil
}

//go:build !linux

package storetest

import "syscall"

func serverProcAttr() *syscall.SysProcAttr { return nil }

//go:build linux

package storetest

import "syscall"

// serverProcAttr makes mariadbd die with the thread that started it, so a
// killed test binary leaves no orphaned server behind.
func serverProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

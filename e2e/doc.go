//go:build e2e

// Package e2e runs the whole vigil binary — `vigil all` and several
// components together — against real servers and real clients. Built only
// with -tags e2e; make test runs it after the other packages, one package at
// a time, because some tests stop shared servers.
package e2e

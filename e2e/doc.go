// Package e2e holds the end-to-end tests: real orchd processes on loopback driven with
// orchctl as a user would. Tests that run containers need root and skip without it.
package e2e

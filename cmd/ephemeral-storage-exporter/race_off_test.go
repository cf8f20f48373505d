//go:build !race

package main

// raceEnabled: the tests run with -race, so the binary they start is built with -race too.
const raceEnabled = false

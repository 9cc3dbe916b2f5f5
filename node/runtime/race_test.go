//go:build race

package runtime

// raceEnabled: the race-instrumented test binary is also every container's init, and
// alone needs more memory than the small limits some tests set.
const raceEnabled = true

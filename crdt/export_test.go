package crdt

// SetMutation switches every join to a deliberately broken variant (0
// restores the real one) for the mutation test, and returns a function
// that restores the previous variant. Tests that call it must not run in
// parallel with others.
func SetMutation(m int) (restore func()) {
	old := joinMutation
	joinMutation = mutation(m)
	return func() { joinMutation = old }
}

// Mutations lists the broken joins by name.
var Mutations = map[string]int{
	"ignore the context":     int(mutIgnoreContext),
	"drop out-of-order dots": int(mutDropCloud),
	"max instead of union":   int(mutMaxNotUnion),
}

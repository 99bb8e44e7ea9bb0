package registry

import "context"

type viewKey struct{}

// WithView marks ctx as a read made to show a manifest to a person (the
// web console's artifact page), not a pull: the manifest is served as
// usual, but no pull time is recorded and no pull event is published.
// Only code in this process can set it; no request header does.
func WithView(ctx context.Context) context.Context {
	return context.WithValue(ctx, viewKey{}, true)
}

func isView(ctx context.Context) bool {
	v, _ := ctx.Value(viewKey{}).(bool)
	return v
}

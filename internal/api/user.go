package api

// userStore is what the user handlers need from the metadata store.
type userStore interface {
}

func (s *Server) userRoutes() []route {
	return nil
}

package api

// projectStore is what the project handlers need from the metadata store.
type projectStore interface {
}

func (s *Server) projectRoutes() []route {
	return nil
}

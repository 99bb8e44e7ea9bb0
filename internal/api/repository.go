package api

// repositoryStore is what the repository handlers need from the metadata store.
type repositoryStore interface {
}

func (s *Server) repositoryRoutes() []route {
	return nil
}

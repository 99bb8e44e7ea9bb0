package api

// labelStore is what the label handlers need from the metadata store.
type labelStore interface {
}

func (s *Server) labelRoutes() []route {
	return nil
}

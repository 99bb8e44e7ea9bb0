package api

// memberStore is what the member handlers need from the metadata store.
type memberStore interface {
}

func (s *Server) memberRoutes() []route {
	return nil
}

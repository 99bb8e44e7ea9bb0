package api

// systemStore is what the system handlers need from the metadata store.
type systemStore interface {
}

func (s *Server) systemRoutes() []route {
	return nil
}

package api

// robotStore is what the robot handlers need from the metadata store.
type robotStore interface {
}

func (s *Server) robotRoutes() []route {
	return nil
}

package api

func (s *Server) artifactRoutes() []route {
	return nil
}

package api

func (s *Server) sessionRoutes() []route {
	return nil
}

package api

// auditStore is what the audit handlers need from the metadata store.
type auditStore interface {
}

func (s *Server) auditRoutes() []route {
	return nil
}

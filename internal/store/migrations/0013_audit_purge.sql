-- Audit log purges delete by event type (operation_resource) and age in
-- bounded batches; listings filter by operation and resource_type too.
CREATE INDEX audit_log_event_time ON audit_log (operation, resource_type, op_time);

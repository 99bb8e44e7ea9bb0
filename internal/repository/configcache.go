package repository

import (
	"encoding/json"
	"sync"
)

// configCache keeps decoded config blobs by blob store and digest. Content
// is addressed by its digest, so an entry never goes stale. An artifact listing reads the config of each
// artifact on the page (extra_attrs); decoding them from the blob store
// was a fifth of a listing's CPU. Only small configs are kept, and the
// cache is emptied when it reaches its byte budget.
type configCache struct {
	mu    sync.RWMutex
	m     map[configKey]map[string]json.RawMessage
	bytes int64
}

const (
	maxCachedConfig  = 64 << 10 // bytes of one config
	configCacheBytes = 32 << 20 // bytes of all
)

// configKey names a config: the blob store it was read from (any
// comparable value, a pointer in practice) and its digest.
type configKey struct {
	store  any
	digest string
}

var configs configCache

func (c *configCache) get(k configKey) map[string]json.RawMessage {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.m[k]
}

// put remembers cfg, decoded from a config blob of size bytes. Callers
// must not modify cfg afterwards, nor a map get returns.
func (c *configCache) put(k configKey, size int64, cfg map[string]json.RawMessage) {
	if size > maxCachedConfig {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || c.bytes+size > configCacheBytes {
		c.m, c.bytes = map[configKey]map[string]json.RawMessage{}, 0
	}
	if _, ok := c.m[k]; !ok {
		c.m[k] = cfg
		c.bytes += size
	}
}

package config

import (
	"strings"
	"testing"
	"time"
)

// TestSettingNames: every setting has a usage line, a type the layers can
// parse, and a flag and environment name no other setting (or another
// setting's -file form) has: a block's keys are joined with "_" in the
// environment, so storage.filesystem.root and a top-level
// storage_filesystem_root would both be BERTH_STORAGE_FILESYSTEM_ROOT.
func TestSettingNames(t *testing.T) {
	c := Default()
	flags, envs := map[string]string{"config": "--config"}, map[string]string{"BERTH_CONFIG": "--config"}
	claim := func(m map[string]string, name, key string) {
		if other, ok := m[name]; ok {
			t.Errorf("%s and %s both map to %s", other, key, name)
		}
		m[name] = key
	}
	for _, l := range leavesOf(&c) {
		if l.usage == "" {
			t.Errorf("%s has no usage", l.key())
		}
		switch l.v.Addr().Interface().(type) {
		case *string, *int, *bool, *time.Duration:
		default:
			t.Errorf("%s: type %s is not parsed by the layers", l.key(), l.v.Type())
		}
		if l.noFlag && !l.secret {
			t.Errorf("%s has no flag and no -file flag: it cannot be set on the command line", l.key())
		}
		if l.secret && l.v.Kind().String() != "string" {
			t.Errorf("%s: a secret read from a file must be a string", l.key())
		}
		if strings.Contains(l.key(), "-") {
			t.Errorf("%s: keys use _ between words", l.key())
		}
		claim(flags, l.flag(), l.key())
		claim(envs, l.env(), l.key())
		if l.secret {
			claim(flags, l.flag()+"-file", l.key()+"_file")
			claim(envs, l.env()+"_FILE", l.key()+"_file")
		}
	}
	if len(envs) < 25 {
		t.Errorf("only %d names", len(envs))
	}
}

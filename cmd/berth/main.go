// Command berth is the Berth container and artifact registry.
//
//	berth serve [flags]   start the registry (berth serve -h lists the flags)
//	berth version         print the version
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/berth-dev/berth/internal/app"
	"github.com/berth-dev/berth/internal/config"
)

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	switch os.Args[1] {
	case "serve":
		os.Exit(serve(os.Args[2:]))
	case "version", "--version", "-v":
		fmt.Println("berth", app.Version)
	case "help", "-h", "--help":
		usage()
	default:
		fmt.Fprintf(os.Stderr, "berth: unknown command %q\n", os.Args[1])
		usage()
		os.Exit(2)
	}
}

func usage() {
	fmt.Fprint(os.Stderr, "usage: berth serve [flags] | berth version\n\n", config.Usage())
}

func serve(args []string) int {
	for _, a := range args {
		if a == "-h" || a == "--help" || a == "-help" {
			usage()
			return 0
		}
	}
	cfg, err := config.Load(args, os.LookupEnv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "berth:", err)
		return 2
	}
	log := newLogger(cfg, os.Stderr)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	a, err := app.New(ctx, cfg, log, cfg.AdminPassword)
	if err != nil {
		log.Error("starting berth", "err", err)
		return 1
	}
	defer a.Close()
	if err := a.Serve(ctx); err != nil {
		log.Error("serving", "err", err)
		return 1
	}
	return 0
}

// newLogger writes the log as the configuration's log block says.
func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	level.UnmarshalText([]byte(cfg.Log.Level))
	opts := &slog.HandlerOptions{Level: level, AddSource: cfg.Log.Source}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

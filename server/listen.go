package server

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/exporter-toolkit/web"
)

// writeTimeout bounds writing one response, however steadily the client reads.
const writeTimeout = 60 * time.Second

// ListenAndServe serves handler the exporter-toolkit way (--web.listen-address, and TLS and basic
// auth from --web.config.file) with server timeouts set, until ctx is done; then it drains
// in-flight scrapes.
func ListenAndServe(ctx context.Context, handler http.Handler, flags *web.FlagConfig, logger *slog.Logger) error {
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
	errc := make(chan error, 1)
	go func() { errc <- web.ListenAndServe(srv, flags, logger) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		logger.Info("shutting down")
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Shutdown(shutdownCtx)
	}
}

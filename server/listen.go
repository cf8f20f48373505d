package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
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

// StartProbes listens on address (plain HTTP, no --web.config.file) and serves handler there
// until ctx is done. It fails at once when the address cannot be bound, so a wrong
// --web.probe-address stops the agent instead of failing its probes later.
func StartProbes(ctx context.Context, address string, handler http.Handler, logger *slog.Logger) (net.Addr, error) {
	l, err := net.Listen("tcp", address)
	if err != nil {
		return nil, fmt.Errorf("--web.probe-address: %w", err)
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       5 * time.Second,
		WriteTimeout:      5 * time.Second,
		IdleTimeout:       time.Minute,
		MaxHeaderBytes:    8 << 10,
	}
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("probe listener", "err", err)
		}
	}()
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	logger.Info("serving probes", "address", l.Addr().String())
	return l.Addr(), nil
}

// Package transport builds the HTTP clients and server settings every orch component uses
// to speak Connect, gRPC and gRPC-Web, in one place so that TLS changes them all at once.
package transport

import (
	"net"
	"net/http"
	"time"
)

// Client returns an HTTP client that speaks HTTP/2 to orch endpoints (cleartext h2c
// with prior knowledge), as gRPC and streaming watches need.
func Client() *http.Client {
	t := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     90 * time.Second,
		Protocols:           new(http.Protocols),
	}
	t.Protocols.SetUnencryptedHTTP2(true)
	t.HTTP2 = &http.HTTP2Config{PingTimeout: 10 * time.Second, SendPingTimeout: 10 * time.Second}
	return &http.Client{Transport: t}
}

// Server returns an HTTP server for an orch endpoint serving h with HTTP/1.1 and HTTP/2
// (cleartext) and explicit timeouts. Watches and log streams are long-lived, so there is
// no write timeout; idle and header timeouts bound abandoned connections.
func Server(h http.Handler) *http.Server {
	s := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       5 * time.Minute,
		Protocols:         new(http.Protocols),
	}
	s.Protocols.SetHTTP1(true)
	s.Protocols.SetUnencryptedHTTP2(true)
	return s
}

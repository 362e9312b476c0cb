package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/spf13/cobra"
)

// healthcheckCmd asks the admin port's /readyz (or --url) and exits 0 on 200, 1 otherwise: a
// container healthcheck for an image without a shell or curl (Dockerfile, deploy/compose.yaml).
func healthcheckCommand(c *cli) *cobra.Command {
	var (
		url     string
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "healthcheck [--url URL]",
		Short: "Exit 0 when the server's /readyz answers 200 (for container healthchecks: the image has no shell or curl).",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if url == "" {
				addr := c.getenv("DSOP_ADMIN_ADDR")
				if addr == "" {
					addr = "127.0.0.1:9090"
				}
				url = "http://" + dialable(addr) + "/readyz"
			}
			return healthcheck(cmd.Context(), url, timeout, c.stdout)
		},
	}
	cmd.Flags().StringVar(&url, "url", "", "what to ask; default /readyz on DSOP_ADMIN_ADDR")
	cmd.Flags().DurationVar(&timeout, "timeout", 3*time.Second, "how long to wait for the answer")
	return cmd
}

func healthcheck(ctx context.Context, url string, timeout time.Duration, stdout io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s answered %d: %s", url, resp.StatusCode, body)
	}
	fmt.Fprintf(stdout, "healthy: %s\n", url)
	return nil
}

// dialable turns a listen address on every interface (0.0.0.0:9090, :9090) into one a local
// client can dial.
func dialable(addr string) string {
	for _, any := range []string{"0.0.0.0:", "[::]:"} {
		if len(addr) > len(any) && addr[:len(any)] == any {
			return "127.0.0.1:" + addr[len(any):]
		}
	}
	if len(addr) > 0 && addr[0] == ':' {
		return "127.0.0.1" + addr
	}
	return addr
}

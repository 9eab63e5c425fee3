package opensearch

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
)

// DataStreams lists the names of the data streams matching pattern (e.g.
// "ss4o_logs-*"); none is an empty list, not an error.
func (c *Client) DataStreams(ctx context.Context, pattern string) ([]string, error) {
	path := "/_data_stream/" + url.PathEscape(pattern)
	res, err := c.Do(ctx, http.MethodGet, path, nil)
	if err != nil {
		return nil, err
	}
	if res.Status == http.StatusNotFound {
		return nil, nil
	}
	if err := expect(http.MethodGet, path, res, http.StatusOK); err != nil {
		return nil, err
	}
	var out struct {
		DataStreams []struct {
			Name string `json:"name"`
		} `json:"data_streams"`
	}
	if err := json.Unmarshal(res.Body, &out); err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	names := make([]string, len(out.DataStreams))
	for i, d := range out.DataStreams {
		names[i] = d.Name
	}
	return names, nil
}

// CreateDataStream creates the data stream name (a matching index template
// with data_stream must exist). One that exists already is no error.
func (c *Client) CreateDataStream(ctx context.Context, name string) error {
	path := "/_data_stream/" + url.PathEscape(name)
	res, err := c.Do(ctx, http.MethodPut, path, nil)
	if err != nil {
		return err
	}
	if res.Status == http.StatusBadRequest && json.Valid(res.Body) {
		var e struct {
			Error struct {
				Type string `json:"type"`
			} `json:"error"`
		}
		if json.Unmarshal(res.Body, &e) == nil && e.Error.Type == "resource_already_exists_exception" {
			return nil
		}
	}
	return expect(http.MethodPut, path, res, http.StatusOK)
}

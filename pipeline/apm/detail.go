package apm

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"time"
)

// NodeType is the type of every node Vigil writes (Data Prepper's
// NODE_TYPE_SERVICE).
const NodeType = "service"

// Node is one end of an application-map connection.
type Node struct {
	Type              string            `json:"type"`
	KeyAttributes     KeyAttributes     `json:"keyAttributes"`
	GroupByAttributes map[string]string `json:"groupByAttributes"`
}

// KeyAttributes identify a service node.
type KeyAttributes struct {
	Environment string `json:"environment"`
	Name        string `json:"name"`
}

// Operation is an operation on a node.
type Operation struct {
	Name       string            `json:"name"`
	Attributes map[string]string `json:"attributes"`
}

// NodeOperationDetail is one otel-v2-apm-service-map document: a service
// (sourceNode) and, for a call, the service it calls (targetNode), with
// the operations on each side. A server span calling nothing yields a
// detail without target. Field order and omission of absent members are
// Data Prepper's (Jackson, NON_NULL).
type NodeOperationDetail struct {
	SourceNode              *Node      `json:"sourceNode,omitempty"`
	TargetNode              *Node      `json:"targetNode,omitempty"`
	SourceOperation         *Operation `json:"sourceOperation,omitempty"`
	TargetOperation         *Operation `json:"targetOperation,omitempty"`
	NodeConnectionHash      string     `json:"nodeConnectionHash,omitempty"`
	OperationConnectionHash string     `json:"operationConnectionHash,omitempty"`
	// Timestamp is ISO-8601 UTC (Java's ISO_INSTANT: no fraction on a
	// whole second).
	Timestamp string `json:"timestamp"`
}

func newNode(env, name string) *Node {
	return &Node{Type: NodeType, KeyAttributes: KeyAttributes{Environment: env, Name: name}, GroupByAttributes: map[string]string{}}
}

func newOp(name string) *Operation { return &Operation{Name: name, Attributes: map[string]string{}} }

// newDetail fills the hashes and the timestamp.
func newDetail(src, dst *Node, srcOp, dstOp *Operation, ts time.Time) NodeOperationDetail {
	d := NodeOperationDetail{SourceNode: src, TargetNode: dst, SourceOperation: srcOp, TargetOperation: dstOp}
	d.NodeConnectionHash, d.OperationConnectionHash = connectionHashes(src, dst, srcOp, dstOp)
	d.Timestamp = ts.UTC().Format(time.RFC3339Nano)
	return d
}

// key identifies the detail within a window (the window shares one
// timestamp): Data Prepper deduplicates equal details per window.
func (d NodeOperationDetail) key() string {
	b, _ := json.Marshal(d)
	return string(b)
}

// ID is the document id: a digest of the whole document (which includes
// the window's timestamp). The same window derived again after a restart
// or a rebalance yields the same id, and the pipeline creates documents,
// so a repeat is a 409, never a second document.
func (d NodeOperationDetail) ID() string {
	sum := sha256.Sum256([]byte(d.key()))
	return base64.RawURLEncoding.EncodeToString(sum[:18])
}

// Render is the JSON document.
func (d NodeOperationDetail) Render() []byte {
	b, _ := json.Marshal(d)
	return b
}

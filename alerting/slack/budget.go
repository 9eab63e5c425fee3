package slack

import (
	"fmt"
	"unicode/utf8"

	"github.com/slack-go/slack"
)

// Slack's documented limits on a message.
const (
	// MaxBlocks is the number of blocks a message may have.
	MaxBlocks = 50
	// MaxSectionText is the length of a section block's text.
	MaxSectionText = 3000
	// MaxFieldText is the length of one section field.
	MaxFieldText = 2000
	// MaxFields is the number of fields in a section block.
	MaxFields = 10
	// MaxHeaderText is the length of a header block's text.
	MaxHeaderText = 150
	// MaxContextElements is the number of elements in a context block.
	MaxContextElements = 10
	// MaxMessageText is the length of a message's top-level text.
	MaxMessageText = 40000
)

// CheckBlocks reports the first way blocks exceed Slack's budgets, or nil.
// Lengths are counted in characters, as Slack counts them.
func CheckBlocks(blocks []slack.Block) error {
	if len(blocks) > MaxBlocks {
		return fmt.Errorf("%d blocks (max %d)", len(blocks), MaxBlocks)
	}
	for i, b := range blocks {
		switch b := b.(type) {
		case *slack.SectionBlock:
			if b.Text != nil && runes(b.Text.Text) > MaxSectionText {
				return fmt.Errorf("block %d: section text of %d characters (max %d)", i, runes(b.Text.Text), MaxSectionText)
			}
			if len(b.Fields) > MaxFields {
				return fmt.Errorf("block %d: %d fields (max %d)", i, len(b.Fields), MaxFields)
			}
			for _, f := range b.Fields {
				if runes(f.Text) > MaxFieldText {
					return fmt.Errorf("block %d: field of %d characters (max %d)", i, runes(f.Text), MaxFieldText)
				}
			}
		case *slack.HeaderBlock:
			if b.Text != nil && runes(b.Text.Text) > MaxHeaderText {
				return fmt.Errorf("block %d: header text of %d characters (max %d)", i, runes(b.Text.Text), MaxHeaderText)
			}
		case *slack.ContextBlock:
			if n := len(b.ContextElements.Elements); n > MaxContextElements {
				return fmt.Errorf("block %d: %d context elements (max %d)", i, n, MaxContextElements)
			}
			for _, e := range b.ContextElements.Elements {
				if t, ok := e.(*slack.TextBlockObject); ok && runes(t.Text) > MaxSectionText {
					return fmt.Errorf("block %d: context text of %d characters (max %d)", i, runes(t.Text), MaxSectionText)
				}
			}
		}
	}
	return nil
}

// Truncate cuts s to at most n characters, marking the cut with "…".
func Truncate(s string, n int) string {
	if runes(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

func runes(s string) int { return utf8.RuneCountInString(s) }

// fit returns m within budgets: text cut to MaxMessageText, and blocks
// dropped (leaving the text as a plain-text fallback) when they exceed any
// block budget.
func fit(m Message) (Message, error) {
	m.Text = Truncate(m.Text, MaxMessageText)
	if err := CheckBlocks(m.Blocks); err != nil {
		m.Blocks = nil
		return m, err
	}
	return m, nil
}

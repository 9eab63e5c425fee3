package config

import (
	"fmt"
	"os"
)

// CheckReadable reports a file named by a setting (a certificate, a key, a CA
// bundle) that is missing, unreadable or a directory, so that --check finds
// it before a start does. An empty name is fine: the setting is off.
func CheckReadable(name string) error {
	if name == "" {
		return nil
	}
	f, err := os.Open(name)
	if err != nil {
		if os.IsNotExist(err) {
			return fmt.Errorf("file %s does not exist", name)
		}
		if os.IsPermission(err) {
			return fmt.Errorf("file %s is not readable (permission denied)", name)
		}
		return fmt.Errorf("file %s: %w", name, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("file %s: %w", name, err)
	}
	if st.IsDir() {
		return fmt.Errorf("%s is a directory, not a file", name)
	}
	return nil
}

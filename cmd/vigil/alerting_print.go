package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/vigil-dev/vigil/alerting"
)

// The printing of `vigil alerting silence` and `vigil failover`: what the
// alerting API returns (alerting.Client), as an operator reads it.

// printSilenceCreated says the silence's ID and when it expires.
func printSilenceCreated(w io.Writer, s alerting.Silence) error {
	_, err := fmt.Fprintf(w, "silence %s created, expires %s\n", s.ID, s.ExpiresAt.UTC().Format(time.RFC3339))
	return err
}

// printSilences lists the silences in force as a table.
func printSilences(w io.Writer, list []alerting.Silence) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tMATCHERS\tEXPIRES\tCREATED BY\tREASON")
	for _, s := range list {
		ms := make([]string, len(s.Matchers))
		for i, m := range s.Matchers {
			ms[i] = m.String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.ID, strings.Join(ms, ","), s.ExpiresAt.UTC().Format(time.RFC3339), s.CreatedBy, s.Reason)
	}
	return tw.Flush()
}

// printFailoverStatus prints every target's active side, state and last
// decisions.
func printFailoverStatus(w io.Writer, list []alerting.TargetStatus) error {
	if len(list) == 0 {
		_, err := fmt.Fprintln(w, "no failover targets are configured (failover.targets in the alerting configuration)")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TARGET\tACTIVE\tSTANDBY\tPENDING\tGENERATION\tPRIMARY\tSTANDBY HEALTH\tFAILBACK\tBLOCKED UNTIL\tHELD")
	for _, s := range list {
		blocked := "-"
		if s.Blocked {
			blocked = s.BlockedUntil.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n", s.Target, s.Active, s.Standby, dash(alerting.ShortType(s.Pending)),
			s.Generation, dash(string(s.PrimaryHealth)), dash(string(s.StandbyHealth)), s.Failback, blocked, dash(s.Held))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, s := range list {
		if len(s.Last) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s, last decisions:\n", s.Target)
		for _, st := range s.Last {
			detail := st.Reason
			if st.Actor != "" {
				detail = strings.TrimSpace(detail + " (by " + st.Actor + ")")
			}
			if st.Error != "" {
				detail = strings.TrimSpace(detail + " error: " + st.Error)
			}
			fmt.Fprintf(w, "  %s  #%d  %-20s %s -> %s  %s\n", st.At.UTC().Format(time.RFC3339), st.Generation, alerting.ShortType(st.Type), st.From, st.To, detail)
		}
	}
	return nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

package store

// ReasonIfDown is reason for a check that was down and "" for one that
// was up: an up result or check carries no reason (Result.Reason,
// Check.Error), whatever a probe, a remote instance or a backup said.
func ReasonIfDown(up bool, reason string) string {
	if up {
		return ""
	}
	return reason
}

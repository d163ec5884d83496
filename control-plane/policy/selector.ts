// Kubernetes' matchLabels: a workload is selected when it carries every label
// of the selector with the same value (an empty selector selects everything).

export function selectsLabels(matchLabels: Readonly<Record<string, string>>, labels: Readonly<Record<string, string>>): boolean {
  for (const k in matchLabels) if (labels[k] !== matchLabels[k]) return false;
  return true;
}

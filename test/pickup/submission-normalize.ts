// Normalization shared by the submission fixtures' recorder and their
// replays: queue IDs, times and dates change from run to run; everything
// else in postcat's view of a maildrop or queue file must match byte for
// byte. Strings are byte strings (latin1).

/** Replaces each of ids (in order) by its label, then the clock-dependent fields. */
export function normalizePostcat(text: string, ids: Array<[string, string]>): string {
  let out = text;
  for (const [id, label] of ids) if (id) out = out.split(id).join(label);
  return out
    .replace(/^(message_arrival_time|create_time): .*$/gm, '$1: TIME')
    .replace(/^(Date|Resent-Date): .*$/gm, '$1: DATE')
    .replace(/(\tid [A-Z_]+; ).*$/gm, '$1DATE')
    .replace(/<\d{14}\.([A-Z_]+)@/g, '<STAMP.$1@')
    .replace(/^message_size: .*$/gm, 'message_size: SIZE');
}

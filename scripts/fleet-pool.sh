# shellcheck shell=bash disable=SC2154 # out, concurrency, ...: set by scripts/fleet.sh
# Sourced by scripts/fleet.sh: stacks in parallel, at most FLEET_CONCURRENCY at once,
# results taken in queue order.

# run_pool MODE STACK...: each stack in the background, at most FLEET_CONCURRENCY at once,
# each writing its own log; results are taken in queue order (flush), so results.tsv and
# the job's lines read as a serial run's would, whichever stack ends first.
run_pool() {
  local mode="$1" running=0 flushed=0 stack
  shift
  mkdir -p "$out/done"
  for stack in "$@"; do
    if [ "$running" -ge "$concurrency" ]; then
      wait -n || true
      running=$((running - 1))
      flushed="$(flush "$flushed" "$@")"
    fi
    run_one "$mode" "$stack" &
    running=$((running + 1))
  done
  wait || true
  flush "$flushed" "$@" > /dev/null
}

# flush FROM STACK...: record the finished stacks from index FROM on, in order, up to the
# first one still running; print the index of that one.
flush() {
  local index="$1" line detail
  shift
  local stacks=("$@")
  while [ "$index" -lt "${#stacks[@]}" ] && [ -e "$out/done/${stacks[$index]}" ]; do
    line="$(cat "$out/done/${stacks[$index]}")"
    printf '%s\n' "$line" >> "$out/results.tsv"
    detail="${line#*$'\t'}"
    if [ "${detail%%$'\t'*}" = ok ]; then
      echo "fleet: ${stacks[$index]}: ok" >&2
    else
      echo "fleet: ${stacks[$index]}: FAILED (${line##*$'\t'})" >&2
    fi
    index=$((index + 1))
  done
  echo "$index"
}

# run_one MODE STACK: run one stack into its own log, then its result line into done/
# (renamed into place, so flush never reads half a line); never fails the caller.
run_one() {
  local mode="$1" stack="$2" rc=0 line
  run_stack "$mode" "$stack" > "$out/logs/$stack.log" 2>&1 || rc=$?
  if [ "$rc" -eq 0 ]; then
    line="$(printf '%s\t%s\t' "$stack" ok)"
  else
    line="$(printf '%s\t%s\t%s' "$stack" failed "exit $rc; see logs/$stack.log")"
  fi
  printf '%s\n' "$line" > "$out/done/$stack.part"
  mv "$out/done/$stack.part" "$out/done/$stack"
}

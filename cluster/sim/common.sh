# Shared settings of the simulated cluster scripts (sourced by up, down, run and rsh).
# Everything they make is listed in $SIM_STATE/made, one "kind name" a line, so that
# `down` removes exactly that, even after a crash halfway through `up`.
SIM_STATE="${REIDPRUNE_SIM_STATE:-/tmp/reidprune-sim}"
SIM_MADE="$SIM_STATE/made"
SIM_BRIDGE="rpsim0"
SIM_SUBNET="10.77.0.0/24"
SIM_MARK="# reidprune-sim"

sim_die() { echo "cluster/sim: $*" >&2; exit 1; }

sim_need_root() {
  [ "$(id -u)" = 0 ] || sim_die "needs root (it creates network namespaces, a bridge and /etc/hosts lines); run it as root"
  command -v ip >/dev/null || sim_die "needs 'ip' (apt-get install iproute2)"
  command -v unshare >/dev/null || sim_die "needs 'unshare' (util-linux)"
}

# Appends "kind name" to the record of what was made.
sim_record() { mkdir -p "$SIM_STATE"; echo "$1 $2" >> "$SIM_MADE"; }

# A one-node Slurm cluster for tests (Debian's slurm-wlm 22.05 and munge), run as root in a temp
# dir, without systemd: munged, slurmctld and slurmd started here and stopped by the PIDs they
# write (never by name). Source after testlib.sh.
#
#   slurm_start DIR [MAX_ARRAY_SIZE]   start it; exports SLURM_CONF; waits until the node is idle
#   slurm_wait_job JOBID [TIMEOUT_S]   wait until the job (all its array tasks) left the queue
#   slurm_stop                         stop slurmd, slurmctld and munged (safe to call twice)
#
# The conf follows ../shared/notes/cluster.md: ProctrackType=proctrack/linuxproc,
# TaskPlugin=task/none, no accounting (sacct needs slurmdbd: jobs are checked by their output).

SLURM_DIR=

_slurm_free_port() {
    /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

_slurm_pid() { [ -s "$1" ] && cat "$1"; }

slurm_start() {
    SLURM_DIR=$1
    local max_array=${2:-1001}
    local d=$SLURM_DIR host
    host=$(hostname -s)
    mkdir -p "$d"/{spool,state,log,munge}
    # munged runs as munge: its dir must be reachable (the test's 0700 temp dir gets go+x only)
    chmod go+x "$(dirname "$d")"
    chmod 755 "$d" "$d/munge"
    chown munge:munge "$d/munge"
    # munge needs a key: the package's, or one made here (only this test's munged uses it)
    if [ ! -s /etc/munge/munge.key ]; then
        mkdir -p /etc/munge
        dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
        chown munge:munge /etc/munge/munge.key
        chmod 400 /etc/munge/munge.key
    fi
    runuser -u munge -- /usr/sbin/munged --socket="$d/munge/munge.socket" \
        --pid-file="$d/munge/munged.pid" --log-file="$d/munge/munged.log" \
        --seed-file="$d/munge/seed" || return 1
    local ctl_port node_port
    ctl_port=$(_slurm_free_port)
    node_port=$(_slurm_free_port)
    while [ "$node_port" = "$ctl_port" ]; do node_port=$(_slurm_free_port); done
    cat >"$d/slurm.conf" <<CONF
ClusterName=tokfstest
SlurmctldHost=$host
AuthType=auth/munge
AuthInfo=socket=$d/munge/munge.socket
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$ctl_port
SlurmdPort=$node_port
SlurmdSpoolDir=$d/spool
StateSaveLocation=$d/state
SlurmctldPidFile=$d/slurmctld.pid
SlurmdPidFile=$d/slurmd.pid
SlurmctldLogFile=$d/log/slurmctld.log
SlurmdLogFile=$d/log/slurmd.log
MpiDefault=none
MaxArraySize=$max_array
SchedulerParameters=sched_interval=2
NodeName=$host CPUs=$(nproc) State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
    export SLURM_CONF=$d/slurm.conf
    slurmctld -f "$SLURM_CONF" || return 1
    slurmd -f "$SLURM_CONF" || return 1
    local i state
    for i in $(seq 1 300); do
        state=$(sinfo -h -o %t 2>/dev/null | head -n 1)
        [ "$state" = idle ] && return 0
        sleep 0.1
    done
    echo "slurm_start: the node is not idle after 30 s (state: ${state:-none}); logs in $d/log" >&2
    return 1
}

slurm_wait_job() {
    local job=$1 timeout=${2:-300} i
    for i in $(seq 1 $((timeout * 5))); do
        [ -z "$(squeue -h -j "$job" 2>/dev/null)" ] && return 0
        sleep 0.2
    done
    echo "slurm_wait_job: job $job still queued or running after ${timeout}s:" >&2
    squeue -j "$job" >&2 || true
    return 1
}

slurm_stop() {
    [ -n "$SLURM_DIR" ] || return 0
    local f pid i
    for f in "$SLURM_DIR/slurmd.pid" "$SLURM_DIR/slurmctld.pid" "$SLURM_DIR/munge/munged.pid"; do
        pid=$(_slurm_pid "$f") || continue
        kill -TERM "$pid" 2>/dev/null || continue
        for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    done
    SLURM_DIR=
}

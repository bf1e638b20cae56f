# Shared by the example scripts (source it).

# publish_and_get IMAGE PORT PATH: runs IMAGE with PORT published on loopback, waits until
# PATH answers, prints the answer; the container is removed on exit of the calling script.
publish_and_get() {
  local image=$1 port=$2 path=$3 cid host_port answer=""
  cid=$(docker run -d -p "127.0.0.1::$port" "$image")
  # shellcheck disable=SC2064
  trap "docker rm -f $cid >/dev/null" EXIT
  host_port=$(docker port "$cid" "$port/tcp" | head -n1 | awk -F: '{print $NF}')
  for _ in $(seq 50); do
    if answer=$(curl -fsS "http://127.0.0.1:$host_port$path" 2>/dev/null); then break; fi
    sleep 0.2
  done
  [[ -n "$answer" ]] || { echo "$image did not answer on $path" >&2; return 1; }
  echo "$answer"
}

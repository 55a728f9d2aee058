# bash completion for onside-agent(8): commands, each command's options, configuration files for -c,
# the configuration's input names for --input. Installed by the packages as
# /usr/share/bash-completion/completions/onside-agent (loaded on demand by bash-completion).

_onside_agent_config() {
	# the -c/--config value on the line, else the default
	local i
	for ((i = 1; i < ${#COMP_WORDS[@]} - 1; i++)); do
		case "${COMP_WORDS[i]}" in
		-c | --config) echo "${COMP_WORDS[i + 1]}"; return ;;
		--config=*) echo "${COMP_WORDS[i]#--config=}"; return ;;
		esac
	done
	echo /etc/onside-agent/agent.yaml
}

_onside_agent() {
	local cur="${COMP_WORDS[COMP_CWORD]}" prev="${COMP_WORDS[COMP_CWORD - 1]}"
	local commands="run check parse status replay help"
	local cmd="" i opts

	for ((i = 1; i < COMP_CWORD; i++)); do
		case "${COMP_WORDS[i]}" in
		run | check | parse | status | replay | help) cmd="${COMP_WORDS[i]}"; break ;;
		esac
	done
	case "$prev" in
	-c | --config)
		COMPREPLY=($(compgen -f -- "$cur"))
		return ;;
	--input)
		COMPREPLY=($(compgen -W "$(sed -n 's/^[[:space:]]*-[[:space:]]*name:[[:space:]]*"\{0,1\}\([a-z0-9_.-]*\).*/\1/p' \
			"$(_onside_agent_config)" 2>/dev/null)" -- "$cur"))
		return ;;
	--sample | --max-lag | --max-failing | --reason)
		return ;;
	esac
	case "$cmd" in
	"") opts="$commands -c --config --once -v -q --version --help" ;;
	run) opts="-c --config --once -v -vv -q --help" ;;
	check) opts="-c --config --sample --connect --help" ;;
	parse) opts="-c --config --input --help" ;;
	status) opts="-c --config --max-lag --max-failing --help" ;;
	replay) opts="-c --config --input --reason --dry-run --help" ;;
	help) opts="$commands" ;;
	esac
	if [[ "$cmd" == parse && "$cur" != -* ]]; then
		COMPREPLY=($(compgen -f -- "$cur"))
		return
	fi
	COMPREPLY=($(compgen -W "$opts" -- "$cur"))
}

complete -F _onside_agent onside-agent

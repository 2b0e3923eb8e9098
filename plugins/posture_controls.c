/* The compliance mapping (posture.h): for each check, the controls it supports in four
 * frameworks, and the titles of those controls.
 *
 * One table, by check id, so an auditor reads a row and sees every framework at once;
 * doc/posture.md prints the same table with its sources. The mapping is aiwatch's own
 * judgement of which control a setting serves (no framework publishes one for these
 * Azure properties), chosen to be defensible rather than exhaustive: the control whose
 * text the setting most directly implements, then at most a few that it supports. */
#include "posture.h"

#include <string.h>
#include <strings.h>

struct control_map {
	const char *check;
	const char *const fw[AW_FW_COUNT][AW_POSTURE_MAX_CONTROLS + 1];
};

#define M(...)                                                                                     \
	{                                                                                          \
		__VA_ARGS__, NULL                                                                  \
	}

/* clang-format off */
static const struct control_map map[] = {
	/* check,        MCSB v1,              NIST SP 800-53r5,               ISO 27001:2022 Annex A,         SOC 2 TSC */
	{"AIW-CS-001", {M("NS-2"), M("SC-7", "AC-4"), M("A.8.20", "A.8.21"), M("CC6.6", "CC6.1")}},
	{"AIW-CS-002", {M("NS-2", "NS-1"), M("SC-7", "AC-4"), M("A.8.20", "A.8.22"), M("CC6.6", "CC6.1")}},
	{"AIW-CS-003", {M("NS-2", "NS-1"), M("SC-7", "AC-4"), M("A.8.20", "A.8.22"), M("CC6.6")}},
	{"AIW-CS-004", {M("IM-1", "IM-8"), M("IA-2", "IA-5", "AC-3"), M("A.5.17", "A.8.5"), M("CC6.1")}},
	{"AIW-CS-005", {M("NS-2"), M("SC-7", "AC-4"), M("A.8.20", "A.8.21", "A.8.22"), M("CC6.6", "CC6.1")}},
	{"AIW-CS-006", {M("IM-3"), M("IA-9", "IA-5"), M("A.5.16", "A.5.17"), M("CC6.1")}},
	{"AIW-CS-007", {M("NS-2", "NS-3"), M("AC-4", "SC-7"), M("A.8.12", "A.8.20"), M("CC6.7")}},
	{"AIW-CS-008", {M("LT-3", "LT-5"), M("AU-2", "AU-12", "AU-6", "SI-4"), M("A.8.15", "A.8.16"), M("CC7.2")}},
	{"AIW-CS-101", {M("PV-1", "LT-1"), M("SI-10", "SI-15"), M("A.8.26", "A.8.12"), M("CC6.8", "CC7.2")}},
	{"AIW-ML-001", {M("NS-2"), M("SC-7", "AC-4"), M("A.8.20", "A.8.21"), M("CC6.6", "CC6.1")}},
	{"AIW-ML-002", {M("NS-1", "NS-2"), M("SC-7", "AC-4"), M("A.8.20", "A.8.22", "A.8.12"), M("CC6.6", "CC6.7")}},
	{"AIW-ML-003", {M("LT-3", "LT-5"), M("AU-2", "AU-12", "AU-6", "SI-4"), M("A.8.15", "A.8.16"), M("CC7.2")}},
	{"AIW-ML-101", {M("NS-1", "PV-3"), M("SC-7", "CM-7"), M("A.8.20", "A.8.22"), M("CC6.6")}},
	{"AIW-ML-102", {M("NS-1", "PV-3"), M("AC-17", "SC-7", "CM-7"), M("A.8.20", "A.8.9"), M("CC6.6", "CC6.1")}},
	{"AIW-ML-103", {M("PV-3", "AM-3"), M("CM-6", "CM-7"), M("A.8.9", "A.5.23"), M("CC6.1")}},
	{"AIW-ML-104", {M("IM-1", "IM-8"), M("IA-2", "IA-5", "AC-3"), M("A.5.17", "A.8.5"), M("CC6.1")}},
	{"AIW-ML-105", {M("NS-1", "PV-3"), M("AC-17", "SC-7", "CM-7"), M("A.8.20", "A.8.9"), M("CC6.6", "CC6.1")}},
	{"AIW-KV-001", {M("DP-8", "BR-2"), M("SC-12", "CP-9"), M("A.8.13", "A.8.24"), M("A1.2", "CC6.1")}},
	{"AIW-KV-002", {M("PA-7", "DP-8"), M("AC-3", "AC-6"), M("A.5.15", "A.5.18", "A.8.3"), M("CC6.3", "CC6.1")}},
	{"AIW-KV-003", {M("NS-2", "DP-8"), M("SC-7", "AC-4"), M("A.8.20", "A.8.21"), M("CC6.6", "CC6.1")}},
	{"AIW-KV-004", {M("DP-8", "BR-2"), M("CP-9", "SC-12"), M("A.8.13", "A.8.24"), M("A1.2")}},
	{"AIW-KV-005", {M("LT-3", "LT-5"), M("AU-2", "AU-12", "AU-6", "SI-4"), M("A.8.15", "A.8.16"), M("CC7.2")}},
	{"AIW-KV-101", {M("IM-8", "DP-6"), M("IA-5", "SC-12"), M("A.5.17", "A.8.24"), M("CC6.1")}},
	{"AIW-DEF-001", {M("LT-1", "DP-2"), M("SI-4", "AU-6"), M("A.8.16", "A.5.7"), M("CC7.2", "CC7.3")}},
};
/* clang-format on */

struct control_title {
	enum aw_posture_framework fw;
	const char *control;
	const char *title;
};

/* The controls the map uses, with their titles as each framework writes them (SOC 2
 * criteria are sentences: the titles here are their usual short forms). */
static const struct control_title titles[] = {
    {AW_FW_MCSB, "AM-3", "Ensure security of asset lifecycle management"},
    {AW_FW_MCSB, "BR-2", "Protect backup and recovery data"},
    {AW_FW_MCSB, "DP-2", "Monitor anomalies and threats targeting sensitive data"},
    {AW_FW_MCSB, "DP-6", "Use a secure key management process"},
    {AW_FW_MCSB, "DP-8", "Ensure security of key and certificate repository"},
    {AW_FW_MCSB, "IM-1", "Use centralized identity and authentication system"},
    {AW_FW_MCSB, "IM-3", "Manage application identities securely and automatically"},
    {AW_FW_MCSB, "IM-8", "Restrict the exposure of credentials and secrets"},
    {AW_FW_MCSB, "LT-1", "Enable threat detection capabilities"},
    {AW_FW_MCSB, "LT-3", "Enable logging for security investigation"},
    {AW_FW_MCSB, "LT-5", "Centralize security log management and analysis"},
    {AW_FW_MCSB, "NS-1", "Establish network segmentation boundaries"},
    {AW_FW_MCSB, "NS-2", "Secure cloud native services with network controls"},
    {AW_FW_MCSB, "NS-3", "Deploy firewall at the edge of enterprise network"},
    {AW_FW_MCSB, "PA-7", "Follow just enough administration (least privilege) principle"},
    {AW_FW_MCSB, "PV-1", "Define and establish secure configurations"},
    {AW_FW_MCSB, "PV-3", "Define and establish secure configurations for compute resources"},

    {AW_FW_NIST, "AC-3", "Access Enforcement"},
    {AW_FW_NIST, "AC-4", "Information Flow Enforcement"},
    {AW_FW_NIST, "AC-6", "Least Privilege"},
    {AW_FW_NIST, "AC-17", "Remote Access"},
    {AW_FW_NIST, "AU-2", "Event Logging"},
    {AW_FW_NIST, "AU-6", "Audit Record Review, Analysis, and Reporting"},
    {AW_FW_NIST, "AU-12", "Audit Record Generation"},
    {AW_FW_NIST, "CM-6", "Configuration Settings"},
    {AW_FW_NIST, "CM-7", "Least Functionality"},
    {AW_FW_NIST, "CP-9", "System Backup"},
    {AW_FW_NIST, "IA-2", "Identification and Authentication (Organizational Users)"},
    {AW_FW_NIST, "IA-5", "Authenticator Management"},
    {AW_FW_NIST, "IA-9", "Service Identification and Authentication"},
    {AW_FW_NIST, "SC-7", "Boundary Protection"},
    {AW_FW_NIST, "SC-12", "Cryptographic Key Establishment and Management"},
    {AW_FW_NIST, "SI-4", "System Monitoring"},
    {AW_FW_NIST, "SI-10", "Information Input Validation"},
    {AW_FW_NIST, "SI-15", "Information Output Filtering"},

    {AW_FW_ISO27001, "A.5.7", "Threat intelligence"},
    {AW_FW_ISO27001, "A.5.15", "Access control"},
    {AW_FW_ISO27001, "A.5.16", "Identity management"},
    {AW_FW_ISO27001, "A.5.17", "Authentication information"},
    {AW_FW_ISO27001, "A.5.18", "Access rights"},
    {AW_FW_ISO27001, "A.5.23", "Information security for use of cloud services"},
    {AW_FW_ISO27001, "A.8.3", "Information access restriction"},
    {AW_FW_ISO27001, "A.8.5", "Secure authentication"},
    {AW_FW_ISO27001, "A.8.9", "Configuration management"},
    {AW_FW_ISO27001, "A.8.12", "Data leakage prevention"},
    {AW_FW_ISO27001, "A.8.13", "Information backup"},
    {AW_FW_ISO27001, "A.8.15", "Logging"},
    {AW_FW_ISO27001, "A.8.16", "Monitoring activities"},
    {AW_FW_ISO27001, "A.8.20", "Networks security"},
    {AW_FW_ISO27001, "A.8.21", "Security of network services"},
    {AW_FW_ISO27001, "A.8.22", "Segregation of networks"},
    {AW_FW_ISO27001, "A.8.24", "Use of cryptography"},
    {AW_FW_ISO27001, "A.8.26", "Application security requirements"},

    {AW_FW_SOC2, "A1.2",
     "Environmental protections, software, data backup and recovery infrastructure"},
    {AW_FW_SOC2, "CC6.1", "Logical access security software, infrastructure and architectures"},
    {AW_FW_SOC2, "CC6.3", "Role-based access and least privilege"},
    {AW_FW_SOC2, "CC6.6",
     "Logical access security against threats from outside the system boundaries"},
    {AW_FW_SOC2, "CC6.7", "Restriction of the transmission, movement and removal of information"},
    {AW_FW_SOC2, "CC6.8", "Prevention and detection of unauthorized or malicious software"},
    {AW_FW_SOC2, "CC7.2", "Monitoring of system components for anomalies"},
    {AW_FW_SOC2, "CC7.3", "Evaluation of security events"},
};

static const char *const fw_names[AW_FW_COUNT] = {"mcsb", "nist", "iso27001", "soc2"};

const char *const *aw_posture_check_controls(const struct aw_posture_check *c,
					     enum aw_posture_framework fw)
{
	static const char *const none[] = {NULL};
	const char *id = c ? aw_posture_check_id(c) : NULL;

	if (!id || (unsigned)fw >= AW_FW_COUNT)
		return none;
	for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
		if (strcmp(map[i].check, id) == 0)
			return map[i].fw[fw];
	return none;
}

const char *aw_posture_framework_name(enum aw_posture_framework fw)
{
	return (unsigned)fw < AW_FW_COUNT ? fw_names[fw] : "unknown";
}

int aw_posture_framework_parse(const char *name)
{
	for (int i = 0; name && i < AW_FW_COUNT; i++)
		if (strcasecmp(name, fw_names[i]) == 0)
			return i;
	return -1;
}

const char *aw_posture_control_title(enum aw_posture_framework fw, const char *control)
{
	for (size_t i = 0; control && i < sizeof titles / sizeof titles[0]; i++)
		if (titles[i].fw == fw && strcasecmp(titles[i].control, control) == 0)
			return titles[i].title;
	return NULL;
}

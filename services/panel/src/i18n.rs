//! The panel's words, in English and French (the seeds' languages). Pages take
//! [`messages`] of a [`Lang`] as `m` (`{{ m.sign_in }}`); the language is the
//! `?lang=` the person chose (kept in a cookie), else the browser's
//! `Accept-Language`, else English.

use std::collections::BTreeMap;

/// A language of the panel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// English.
    En,
    /// French.
    Fr,
}

impl Lang {
    /// `en` or `fr`, as `<html lang>` says.
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Fr => "fr",
        }
    }

    /// The language `code` names, if the panel speaks it.
    pub fn parse(code: &str) -> Option<Lang> {
        match code.trim().get(..2).map(str::to_ascii_lowercase).as_deref() {
            Some("en") => Some(Lang::En),
            Some("fr") => Some(Lang::Fr),
            _ => None,
        }
    }

    /// The first language of an `Accept-Language` header the panel speaks.
    pub fn from_accept(header: &str) -> Option<Lang> {
        header
            .split(',')
            .filter_map(|part| Lang::parse(part.split(';').next().unwrap_or_default()))
            .next()
    }
}

/// (key, English, French).
const WORDS: &[(&str, &str, &str)] = &[
    ("title", "ferry — migrations", "ferry — migrations"),
    ("sign_in", "Sign in", "Se connecter"),
    ("sign_out", "Sign out", "Se déconnecter"),
    ("token", "Your access token", "Votre jeton d'accès"),
    (
        "token_help",
        "The token ferry issued to you (ferry_…), or your identity provider's.",
        "Le jeton que ferry vous a remis (ferry_…), ou celui de votre fournisseur d'identité.",
    ),
    ("signed_in_as", "Signed in as", "Connecté en tant que"),
    ("your_servers", "Your servers", "Vos serveurs"),
    ("support_console", "Support console", "Console du support"),
    ("server", "Server", "Serveur"),
    ("customer", "Customer", "Client"),
    ("configuration", "Configuration", "Configuration"),
    ("version", "Version", "Version"),
    ("step", "Step", "Étape"),
    ("state", "State", "État"),
    (
        "no_servers",
        "No server to show.",
        "Aucun serveur à afficher.",
    ),
    ("migrations", "Migrations", "Migrations"),
    ("accounts", "Accounts", "Comptes"),
    ("account", "Account", "Compte"),
    ("test_migration", "Test migration", "Migration de test"),
    ("downtime", "Downtime", "Interruption"),
    ("actions", "Actions", "Actions"),
    ("progress", "Progress of", "Avancement de"),
    ("estimated", "expected downtime", "interruption prévue"),
    ("measured", "measured downtime", "interruption mesurée"),
    (
        "loan_days_used",
        "day(s) used, free for the first",
        "jour(s) utilisé(s), gratuit les",
    ),
    ("free_days", "days", "premiers jours"),
    ("charged", "charged", "facturés"),
    (
        "mx_advice",
        "Mail records to change at your other DNS provider",
        "Enregistrements MX à modifier chez votre autre fournisseur DNS",
    ),
    ("mx_delete", "delete", "supprimez"),
    ("mx_keep", "keep", "gardez"),
    (
        "no_migration",
        "No migration in progress.",
        "Aucune migration en cours.",
    ),
    (
        "open_migration",
        "Open the migration",
        "Ouvrir la migration",
    ),
    ("target_version", "Target version", "Version cible"),
    (
        "choose_target",
        "Choose the target version to open the migration",
        "Choisissez la version cible pour ouvrir la migration",
    ),
    ("transit_server", "Transit server", "Serveur de transit"),
    ("loan", "Transit server loan", "Prêt du serveur de transit"),
    (
        "queue_position",
        "Position in the queue",
        "Position dans la file",
    ),
    (
        "none_allowed",
        "Nothing to do now: ferry is working, or it is someone else's turn.",
        "Rien à faire pour l'instant : ferry travaille, ou c'est au tour de quelqu'un d'autre.",
    ),
    (
        "confirm_irreversible",
        "This cannot be undone. Go on?",
        "Cette action est irréversible. Continuer ?",
    ),
    ("reason", "Reason", "Motif"),
    ("audit", "Audit", "Historique"),
    ("back", "Back to the servers", "Retour aux serveurs"),
    (
        "back_to_console",
        "Back to the console",
        "Retour à la console",
    ),
    (
        "step_1_about",
        "Prepare every account following the documentation's recommendations; you can go back to correct problems. Test servers are available for databases. Once all accounts are ready, request the transit server.",
        "Préparez l'ensemble des comptes en suivant les recommandations de la documentation ; il est possible de revenir en arrière pour corriger des comportements problématiques. Des serveurs de tests sont disponibles pour les bases de données. Une fois tous les comptes prêts, demandez le serveur de transit.",
    ),
    (
        "step_2_about",
        "All accounts are ready. Support removes the language versions the new infrastructure no longer supports (reversible, if needed), so that you can check a last time that you are ready, and prepares the transit server.",
        "Tous les comptes sont prêts. Le support supprime les versions des langages qui n'existent plus sous la nouvelle infrastructure (réversible si nécessaire), pour que vous vérifiiez une dernière fois que vous êtes prêt, et prépare le serveur de transit.",
    ),
    (
        "step_3_about",
        "Support prepares a transit server with the same configuration as your server. The installation can take several hours and pre-copies files and mails. It depends on the transit servers available for this configuration: you may have to wait until one is released.",
        "Le support prépare un serveur de transit de même configuration que votre serveur. L'installation peut durer plusieurs heures et précopie les fichiers et mails. Elle dépend des serveurs de transit disponibles pour cette configuration : il peut y avoir de l'attente.",
    ),
    (
        "step_4_about",
        "The transit server is ready. Migrate your accounts one by one, whenever you want. Each move entails a downtime of a few seconds to a few hours depending on the account's size, usually one minute per gigabyte of databases.",
        "Le serveur de transit est prêt. Migrez vos comptes un par un, quand vous le souhaitez. Chaque migration entraîne une coupure de quelques secondes à quelques heures selon la taille du compte, en général une minute par giga de bases de données.",
    ),
    (
        "step_5_about",
        "Make application changes on the migrated accounts if necessary. Once all accounts are migrated, ask support to reinstall your server.",
        "Faites les modifications applicatives des comptes migrés si besoin. Une fois l'ensemble des comptes migrés, demandez au support la réinstallation de votre serveur.",
    ),
    (
        "step_6_about",
        "All accounts are on the transit server. Support reinstalls your server on the new infrastructure, which can take several hours; meanwhile its IP addresses are rerouted to the transit server (about a minute of unavailability for these IPs, none for domains using our DNS).",
        "Tous les comptes sont sur le serveur de transit. Le support réinstalle votre serveur sur la nouvelle infrastructure, ce qui peut durer plusieurs heures ; pendant ce temps ses adresses IP sont reroutées vers le serveur de transit (environ une minute d'indisponibilité pour ces IP, aucune pour les domaines utilisant nos DNS).",
    ),
    (
        "step_7_about",
        "Your server is reinstalled. Support moves your accounts back, in working hours and days; each move back entails a downtime equivalent to the first migration's.",
        "Votre serveur est réinstallé. Le support redéplace vos comptes, en heures et jours ouvrés ; chaque redéplacement entraîne une coupure équivalente à celle de la première migration.",
    ),
    (
        "step_8_about",
        "All accounts are back on your reinstalled server: the migration is officially over.",
        "Tous les comptes ont été redéplacés sur votre serveur réinstallé : la migration est officiellement finie.",
    ),
    (
        "step_1",
        "Preparation of the accounts",
        "Préparation des comptes",
    ),
    (
        "step_2",
        "Request for the transit server",
        "Demande du serveur de transit",
    ),
    (
        "step_3",
        "Installation of the transit server",
        "Installation du serveur de transit",
    ),
    (
        "step_4",
        "Migration of the accounts to the transit server",
        "Migration des comptes vers le serveur de transit",
    ),
    (
        "step_5",
        "Verification of the accounts",
        "Vérification des comptes",
    ),
    (
        "step_6",
        "Reinstallation of the server",
        "Réinstallation du serveur",
    ),
    (
        "step_7",
        "Relocation of the accounts",
        "Rapatriement des comptes",
    ),
    ("step_8", "Migration completed", "Migration terminée"),
    (
        "action_check-compatibility",
        "Check compatibility again",
        "Revérifier la compatibilité",
    ),
    ("action_test", "Test migration", "Migration de test"),
    (
        "action_discard-test",
        "Discard the test copy",
        "Supprimer la copie de test",
    ),
    ("action_ready", "Ready to migrate", "Prêt à migrer"),
    (
        "action_withdraw-readiness",
        "Not ready after all",
        "Finalement pas prêt",
    ),
    (
        "action_request-transit",
        "Request the transit server",
        "Demander le serveur de transit",
    ),
    (
        "action_remove-languages",
        "Remove obsolete languages",
        "Retirer les langages obsolètes",
    ),
    (
        "action_restore-languages",
        "Restore the languages",
        "Rétablir les langages",
    ),
    (
        "action_move",
        "Migrate to the transit server",
        "Migrer vers le serveur de transit",
    ),
    ("action_verify", "It works", "Cela fonctionne"),
    ("action_rollback", "Move it back", "Revenir en arrière"),
    (
        "action_request-reinstall",
        "Request the reinstallation",
        "Demander la réinstallation",
    ),
    (
        "action_start-reinstall",
        "Start the reinstallation",
        "Lancer la réinstallation",
    ),
    (
        "action_reinstalled",
        "Reinstallation done",
        "Réinstallation terminée",
    ),
    (
        "action_relocate",
        "Relocate to the server",
        "Rapatrier sur le serveur",
    ),
    (
        "action_cancel",
        "Cancel the migration",
        "Annuler la migration",
    ),
    (
        "action_retry-pre-copy",
        "Retry the pre-copy",
        "Relancer la pré-copie",
    ),
    (
        "action_abort",
        "Abort the transfer",
        "Interrompre le transfert",
    ),
    ("done", "Done", "Fait"),
    ("refused", "Refused", "Refusé"),
    ("servers", "Servers", "Serveurs"),
    (
        "transit_pool",
        "Transit pool",
        "Parc de serveurs de transit",
    ),
    ("transit_servers", "Transit servers", "Serveurs de transit"),
    ("waiting_queue", "Waiting queue", "File d'attente"),
    ("nobody_waiting", "Nobody waiting.", "Personne en attente."),
    (
        "no_transit",
        "No transit server.",
        "Aucun serveur de transit.",
    ),
    ("since", "Since", "Depuis"),
    ("migration", "Migration", "Migration"),
    ("requested_at", "Requested at", "Demandé le"),
    (
        "parked",
        "Parked reactions needing a person",
        "Réactions en attente d'une personne",
    ),
    ("nothing_parked", "Nothing parked.", "Rien en attente."),
    ("reactor", "Reaction", "Réaction"),
    ("event", "Event", "Événement"),
    ("subject", "Subject", "Objet"),
    ("attempts", "Attempts", "Tentatives"),
    ("error_word", "Error", "Erreur"),
    ("parked_at", "Parked at", "Mise en attente le"),
    ("held", "held", "retenue"),
    ("outbox", "Notification outbox", "Messages sortants"),
    ("given_up", "Given up", "Abandonné"),
    ("retrying", "Retrying", "Nouvel essai"),
    ("queued", "Queued", "En file"),
    ("sent", "Sent", "Envoyé"),
    ("recipient", "Recipient", "Destinataire"),
    ("queued_at", "Queued at", "Mis en file le"),
    ("newest_first", "newest first", "les plus récents d'abord"),
    ("no_messages", "No message.", "Aucun message."),
    ("all_steps", "All steps", "Toutes les étapes"),
    ("no_migration_step", "No migration", "Aucune migration"),
    ("search", "Search", "Rechercher"),
    (
        "search_help",
        "Server id, name or customer.",
        "Identifiant ou nom du serveur, ou client.",
    ),
    ("filter", "Filter", "Filtrer"),
    ("of", "of", "sur"),
    ("pages", "Pages", "Pages"),
    ("page", "Page", "Page"),
    ("previous", "Previous page", "Page précédente"),
    ("next", "Next page", "Page suivante"),
    ("back_to_server", "Back to the server", "Retour au serveur"),
    ("export_csv", "Export as CSV", "Exporter en CSV"),
    ("oldest_first", "oldest first", "les plus anciens d'abord"),
    ("when", "When", "Quand"),
    ("actor", "Actor", "Auteur"),
    ("summary", "Summary", "Résumé"),
    (
        "no_audit",
        "Nothing recorded yet.",
        "Rien d'enregistré pour l'instant.",
    ),
    ("support_actions", "Support's actions", "Actions du support"),
    (
        "no_support_actions",
        "No support action is allowed now.",
        "Aucune action du support n'est possible pour l'instant.",
    ),
    (
        "support_more",
        "More servers await support (narrow the list by step)",
        "D'autres serveurs attendent le support (filtrez par étape)",
    ),
    (
        "outside_working_hours",
        "outside support's working hours;",
        "hors des heures ouvrées du support ;",
    ),
    ("next_opening", "next opening", "prochaine ouverture"),
    (
        "loans_ending",
        "Loans near the end of their free period",
        "Prêts proches de la fin de leur période gratuite",
    ),
    (
        "loans_ending_help",
        "Open loans whose free period ends soon, or has ended",
        "Prêts en cours dont la période gratuite se termine bientôt, ou est terminée",
    ),
    ("days", "days", "jours"),
    (
        "days_used_of_free",
        "Days used / free days",
        "Jours utilisés / jours gratuits",
    ),
    (
        "free_period_ends",
        "Free period ends",
        "Fin de la période gratuite",
    ),
    ("amount_so_far", "Charged so far", "Facturé à ce jour"),
    (
        "no_loans_ending",
        "No loan is near the end of its free period.",
        "Aucun prêt n'approche de la fin de sa période gratuite.",
    ),
    (
        "failed_transfers",
        "Failed transfers needing a person",
        "Transferts échoués à traiter",
    ),
    (
        "no_failed_transfers",
        "No failed transfer awaits anyone.",
        "Aucun transfert échoué en attente.",
    ),
    ("transfer", "Transfer", "Transfert"),
    ("phase", "Phase", "Phase"),
    (
        "not_answered",
        "ferry did not answer this list",
        "ferry n'a pas fourni cette liste",
    ),
];

/// Every word of the panel in `lang`, by key.
pub fn messages(lang: Lang) -> BTreeMap<&'static str, &'static str> {
    WORDS
        .iter()
        .map(|(key, en, fr)| (*key, if lang == Lang::Fr { *fr } else { *en }))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_word_is_said_in_both_languages_once() {
        let mut keys = std::collections::BTreeSet::new();
        for (key, en, fr) in WORDS {
            assert!(keys.insert(*key), "{key} twice");
            assert!(!en.is_empty() && !fr.is_empty(), "{key}");
        }
        assert_eq!(messages(Lang::Fr)["sign_in"], "Se connecter");
    }

    #[test]
    fn the_language_comes_from_the_browser_when_not_chosen() {
        assert_eq!(Lang::from_accept("fr-FR,fr;q=0.9,en;q=0.8"), Some(Lang::Fr));
        assert_eq!(Lang::from_accept("de-DE, en;q=0.5"), Some(Lang::En));
        assert_eq!(Lang::from_accept("de"), None);
        assert_eq!(Lang::parse("FR"), Some(Lang::Fr));
    }
}

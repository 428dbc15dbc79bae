"""Customer questions in French, Spanish and German for the Bitext help center.

Written by hand for ``./concierge eval search`` (one per intent and language,
27 intents): the help center's articles are English only, so these measure
whether a visitor who writes in another language still finds the answer
(``encoders.OTHER_LANGUAGE_SHARES``). They were used to choose those shares
(e5 alone against mixes with the English models); no held-out set checks them.
"""

LANGUAGES = ("fr", "es", "de")

BITEXT_QUESTIONS: dict[str, tuple[str, str, str]] = {
    "cancel_order": (
        "Je veux annuler ma commande",
        "Quiero cancelar mi pedido",
        "Ich möchte meine Bestellung stornieren",
    ),
    "change_order": (
        "Comment modifier ma commande ?",
        "¿Cómo puedo cambiar mi pedido?",
        "Wie kann ich meine Bestellung ändern?",
    ),
    "change_shipping_address": (
        "Je dois changer l'adresse de livraison de ma commande",
        "Necesito cambiar la dirección de envío",
        "Ich muss die Lieferadresse ändern",
    ),
    "check_cancellation_fee": (
        "Y a-t-il des frais d'annulation ?",
        "¿Hay una tarifa por cancelar?",
        "Gibt es eine Stornogebühr?",
    ),
    "check_invoice": (
        "Où puis-je consulter ma facture ?",
        "¿Dónde puedo ver mi factura?",
        "Wo kann ich meine Rechnung einsehen?",
    ),
    "check_payment_methods": (
        "Quels moyens de paiement acceptez-vous ?",
        "¿Qué métodos de pago aceptan?",
        "Welche Zahlungsmethoden akzeptieren Sie?",
    ),
    "check_refund_policy": (
        "Quelle est votre politique de remboursement ?",
        "¿Cuál es su política de reembolso?",
        "Wie sind Ihre Rückerstattungsrichtlinien?",
    ),
    "complaint": (
        "Je veux déposer une réclamation",
        "Quiero presentar una queja",
        "Ich möchte mich beschweren",
    ),
    "contact_customer_service": (
        "Comment contacter le service client ?",
        "¿Cómo contacto con atención al cliente?",
        "Wie erreiche ich den Kundenservice?",
    ),
    "contact_human_agent": (
        "Je veux parler à une vraie personne",
        "Quiero hablar con un agente humano",
        "Ich möchte mit einem echten Menschen sprechen",
    ),
    "create_account": (
        "Comment créer un compte ?",
        "¿Cómo creo una cuenta nueva?",
        "Wie erstelle ich ein Konto?",
    ),
    "delete_account": (
        "Je veux supprimer mon compte",
        "Quiero eliminar mi cuenta",
        "Ich möchte mein Konto löschen",
    ),
    "delivery_options": (
        "Quelles options de livraison proposez-vous ?",
        "¿Qué opciones de envío tienen?",
        "Welche Versandoptionen gibt es?",
    ),
    "delivery_period": (
        "Combien de temps prend la livraison ?",
        "¿Cuánto tarda la entrega?",
        "Wie lange dauert die Lieferung?",
    ),
    "edit_account": (
        "Comment modifier les informations de mon compte ?",
        "¿Cómo edito los datos de mi cuenta?",
        "Wie bearbeite ich meine Kontodaten?",
    ),
    "get_invoice": (
        "J'ai besoin d'une facture pour mon achat",
        "Necesito una factura de mi compra",
        "Ich brauche eine Rechnung für meinen Kauf",
    ),
    "get_refund": (
        "Je voudrais être remboursé",
        "Quiero que me devuelvan el dinero",
        "Ich möchte mein Geld zurück",
    ),
    "newsletter_subscription": (
        "Comment m'abonner à la newsletter ?",
        "¿Cómo me suscribo al boletín?",
        "Wie abonniere ich den Newsletter?",
    ),
    "payment_issue": (
        "Mon paiement n'est pas passé",
        "Tengo un problema con el pago",
        "Meine Zahlung ist fehlgeschlagen",
    ),
    "place_order": (
        "Comment passer une commande ?",
        "¿Cómo hago un pedido?",
        "Wie gebe ich eine Bestellung auf?",
    ),
    "recover_password": (
        "J'ai oublié mon mot de passe",
        "Olvidé mi contraseña",
        "Ich habe mein Passwort vergessen",
    ),
    "registration_problems": (
        "Je n'arrive pas à m'inscrire",
        "No puedo registrarme",
        "Ich kann mich nicht registrieren",
    ),
    "review": (
        "Je veux laisser un avis sur votre service",
        "Quiero dejar una reseña",
        "Ich möchte eine Bewertung abgeben",
    ),
    "set_up_shipping_address": (
        "Comment enregistrer une adresse de livraison ?",
        "¿Cómo configuro una dirección de envío?",
        "Wie richte ich eine Lieferadresse ein?",
    ),
    "switch_account": (
        "Comment changer de compte ?",
        "¿Cómo cambio a otra cuenta?",
        "Wie wechsle ich zu einem anderen Konto?",
    ),
    "track_order": ("Où est mon colis ?", "¿Dónde está mi pedido?", "Wo ist meine Bestellung?"),
    "track_refund": (
        "Où en est mon remboursement ?",
        "¿Cuál es el estado de mi reembolso?",
        "Wie ist der Stand meiner Rückerstattung?",
    ),
}
